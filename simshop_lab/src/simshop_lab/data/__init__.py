"""Logs in and out of SimShop: the Open Bandit Dataset as logs (`obd`), a log as Open Bandit
Pipeline feedback (`obp_export`)."""
