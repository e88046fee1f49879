"""What the app's tools share: the stages' names and settings (`.chalice/config.json`). Not deployed."""
