"""The RFB client: sans-IO protocol, socket session, FBS recordings."""
