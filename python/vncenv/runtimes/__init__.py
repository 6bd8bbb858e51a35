"""Programs that agents play, served over VNC (see ARCHITECTURE.md)."""
