"""A small in-process LRU of rendered SVGs with their ETags."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rendered:
    """A body, its gzip encoding (made once: browsers and GitHub's image proxy accept it and
    a year's SVG shrinks about tenfold) and the strong entity tag of the plain body."""

    body: bytes
    gzipped: bytes
    tag: str

    def variant(self, gzip_ok: bool) -> tuple[bytes, str]:
        """(body, unquoted tag) to send; each encoding has its own strong tag."""
        return (self.gzipped, self.tag + "-gz") if gzip_ok else (self.body, self.tag)

    @classmethod
    def of(cls, text: str) -> Rendered:
        """Encode `text` and derive its ETag from the bytes."""
        body = text.encode()
        tag = hashlib.blake2b(body, digest_size=16).hexdigest()
        return cls(body, gzip.compress(body, compresslevel=6, mtime=0), tag)


class RenderCache:
    """Least-recently-used cache; keys include the data version, so old entries age out.

    Also holds parsed SVG queries keyed by the raw query string (values are any object)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The cached entry, marked recently used, or None."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: Hashable, item: Any) -> None:
        """Store an entry, evicting the least recently used beyond `size`."""
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
