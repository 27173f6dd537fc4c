"""The MES connector: production progress of customer orders, polled read-only from the MES database."""

from connectors.mes.connector import MesConnector

__all__ = ["MesConnector"]
