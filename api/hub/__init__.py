"""The hub: one GPU Pulse api that receives other hosts' aggregates and snapshots and shows
every view for any of them (`host=NAME|all`). api.hub.feature plugs it into the api (see
api.features), after the lab. See docs/hub.md."""
