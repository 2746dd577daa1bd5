"""Joining a Ray cluster (`--ray ADDRESS`): refuse a dead address at once, follow this machine's
token authentication, and say in one line why a cluster cannot be joined.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from ..errors import InputError

REACH_SECONDS = 10  # a head that does not accept a TCP connection in this long is taken as down


def first_line(exc: BaseException) -> str:
    """The first line of what `exc` says: an error message stays one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'nrff[ray]'") from None
    return ray


def check_reachable(address: str) -> None:
    """Refuse at once a HOST:PORT nothing listens on: ray.init would retry it for minutes."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # auto, local, or a form Ray itself will judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_SECONDS).close()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
        raise InputError(
            f"cannot reach the Ray cluster at {address!r} ({reason}): is `ray start --head` running there?"
        ) from None


def follow_token_auth(address: str) -> None:
    """Ray turns its token authentication on for `auto`, and for a head node started where a token
    is kept (~/.ray/auth_token, which any local cluster writes), when RAY_AUTH_MODE is unset; not for
    a driver given HOST:PORT, which the head then refuses. Do for HOST:PORT as `auto` does."""
    if address in ("auto", "local") or address.startswith("ray://") or "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def connect(address: str) -> Any:
    """Join the Ray cluster at `address` (`auto`, HOST:PORT, `ray://HOST:PORT`) or start one in this
    process (`local`); returns the ray module."""
    check_reachable(address)
    follow_token_auth(address)
    ray = _ray()
    # Ray's notice that token authentication is on goes to the log, not to the user's terminal
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False, "configure_logging": False}
    try:
        if address == "local":
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot join the Ray cluster at {address!r}: {first_line(exc)}") from None
    return ray
