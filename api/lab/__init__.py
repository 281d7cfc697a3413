"""Lab features: usage, CSV export, quotas, display names, reservations, charts and the status
page. api.lab.feature plugs them into the api (see api.features); this package imports
nothing when loaded, so the api's settings can import api.lab.settings alone."""
