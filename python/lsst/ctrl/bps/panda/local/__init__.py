"""The local PanDA: relay server, SQLite state and an executor that plays pilot."""
