"""The dealer files connector: 进销存 (sell-through) reports dropped as CSV / XLSX into a folder.

Importing this package never imports openpyxl: only `client.py` does, when it opens a workbook.
"""

from connectors.dealer_files.connector import DealerFilesConnector

__all__ = ["DealerFilesConnector"]
