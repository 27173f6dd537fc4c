"""The SAP connector over RFC (pyrfc, an optional extra) and its sales-order command.

Importing this package never imports pyrfc: only `client.py` does, on the first logon.
"""

from connectors.sap_rfc.connector import SapRfcConnector

__all__ = ["SapRfcConnector"]
