"""GPU Pulse's wire formats: what one service sends another, as plain data.

- `protocol.hourly`: the hourly aggregate a host's scheduler pushes (its one description),
  its keys, and building it from roll-up rows;
- `protocol.ingest`: what a receiver accepts of it (one payload or an array);
- `protocol.targoman`: the Targoman gpu_monitor-compatible headers and `uid`/`params` reply;
- `protocol.targoman_client`: what an unmodified Targoman client posts, read as a payload;
- `protocol.snapshot`: the live status snapshot and its check;
- `protocol.fields`, `protocol.limits`: the field checks and limits both bodies share;
- `protocol.timeparse`: UTC times as payloads and the scheduler's commands write them.

Nothing here touches a database, Flask or the network: data in, data out. The scheduler
(sending) and the hub (receiving) both import it, so neither imports the other.
"""
