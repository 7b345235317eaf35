"""The host registry: every MIL host by name, built from a :class:`HostConfig`."""

from __future__ import annotations

from core.errors import EvidentError
from core.models.abmil import ABMIL
from core.models.attention_mil import AttentionMIL
from core.models.base import HostConfig, MILHost
from core.models.clam import CLAMSB
from core.models.clam_mb import CLAMMB
from core.models.dsmil import DSMIL
from core.models.dtfd import DTFDMIL
from core.models.dtfd_peer import DTFDPeer
from core.models.transmil import TransMIL
from core.models.transmil_peer import TransMILPeer

__all__ = ["HOSTS", "OWN_HOSTS", "build_host"]

#: name -> host class. The last four are ports of peers' heads that Evident's own hosts do not
#: cover, for checkpoints trained elsewhere (``evident import-model``, docs/import_model.md).
HOSTS: dict[str, type[MILHost]] = {cls.name: cls for cls in (ABMIL, CLAMSB, TransMIL, DSMIL, DTFDMIL,
                                                              CLAMMB, AttentionMIL, TransMILPeer, DTFDPeer)}
#: Evident's own hosts: the ones benchmarks and reproductions train by default (not the ports)
OWN_HOSTS: tuple[str, ...] = ("abmil", "clam_sb", "transmil", "dsmil", "dtfd")


def build_host(name: str, config: HostConfig) -> MILHost:
    """Build host ``name`` from ``config`` (weights freshly initialised).

    Raises
    ------
    EvidentError
        Unknown host name, or a config the host cannot use (non-positive widths, bad ``extra``).
    """
    if name not in HOSTS:
        raise EvidentError(None, f"unknown host {name!r} (use one of: {', '.join(HOSTS)})")
    if config.in_dim < 1 or config.n_outputs < 1 or config.hidden < 1 or config.attn_hidden < 1:
        raise EvidentError(None, f"host {name!r}: widths must be positive (got {config})")
    if not 0.0 <= config.dropout < 1.0:
        raise EvidentError(None, f"host {name!r}: dropout must be in [0, 1), got {config.dropout}")
    try:
        return HOSTS[name](config)
    except ValueError as exc:
        raise EvidentError(None, str(exc)) from None
