"""ChittyIDs of sessions registered through the API: minted when the id service is configured,
else the same stable local id the unified tables give (unified/ids.py ``local_id`` of the session
key ``registered:<id>``), so the id a client sees does not change when unified picks it up."""

from __future__ import annotations

import logging

from chitty_pipelines.unified.ids import local_id

log = logging.getLogger("chitty_pipelines.api")

MINT_TIMEOUT_S = 3.0  # a registration waits at most this long for id.chitty.cc, then goes local


def session_id_for(session_id: str) -> tuple[str, str]:
    """(chitty_id, id_source) for a new session: ``service`` when minted, else ``local``."""
    key = f"registered:{session_id}"
    from chitty_pipelines.chittyos.ids import ChittyIdError, ChittyIdResource

    resource = ChittyIdResource.from_settings()
    if resource.token is None:
        return local_id("session", key), "local"
    try:
        live = ChittyIdResource(
            base_url=resource.base_url,
            token=resource.token,
            timeout_s=MINT_TIMEOUT_S,
            attempts=1,
            entity_codes=resource.entity_codes,
        )
        client = live.process_config_and_initialize().client()
        minted = client.mint(live.entity_code("session"), key, {"type": "session", "key": key})
        return minted, "service"
    except ChittyIdError as exc:  # unavailable or refusing: a local id now, minted later by unified
        log.warning("id service: %s; session %s keeps a local id", exc, session_id)
        return local_id("session", key), "local"
