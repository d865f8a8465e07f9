"""DATAide assistant: the application logic, free of Telegram types except where noted."""
