"""What every service process shares: the settings table, the command-line style, logging
and stop signals. Nothing here imports a service; every service imports this."""
