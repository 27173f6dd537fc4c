"""The SOAP ERP connector (Kingdee / Yonyou / Dynamics style web service) and its sales-order command.

Importing this package never imports zeep: only `client.py` does, on first use.
"""

from connectors.soap_erp.connector import SoapErpConnector

__all__ = ["SoapErpConnector"]
