"""The long-running unit: `microexpr run`, systemd notify/watchdog, GPIO controls, clips."""
