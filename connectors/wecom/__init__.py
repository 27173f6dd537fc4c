"""WeChat Work (企业微信 / WeCom): check-ins polled, approvals and external contacts by callback, robots.

Only `client.py` imports httpx, and only when the connector first talks to WeCom.
"""
