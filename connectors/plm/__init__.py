"""The PLM connector (Windchill / Teamcenter style REST API): released products for CRM quoting and MDM.

Importing this package never imports httpx: only `client.py` does, on first use.
"""

from connectors.plm.connector import PlmConnector

__all__ = ["PlmConnector"]
