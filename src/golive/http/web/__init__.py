"""The browser side of golive: home, sign-up and sign-in, the streamer's dashboard, and the
JSON the site's scripts read (``/web/...``).

Pages are rendered on the server with every piece of user data escaped, or are static with
their data loaded as JSON and inserted with ``textContent``; a Content-Security-Policy allows
scripts and styles from this origin only. Every state-changing request is checked for
forgery (``golive.accounts.csrf``).

app.py builds it::

    sessions = BrowserSessions(WebSessionStore(sessionmaker), force_secure=...)
    routes = web_routes(channels=..., users=..., sessions=sessions, live=..., settings=...)

and the chat socket resolves its user with ``sessions.user`` (``session_user``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.routing import BaseRoute

from golive.accounts.attempt_store import AttemptCounter, AttemptStore, LocalAttemptStore
from golive.accounts.login_rate_limit import LoginRateLimit
from golive.accounts.web_sessions import BrowserSessions, SessionUser
from golive.clip_requests import ClipRequests
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.invites import InviteStore
from golive.db.restream_destinations import RestreamDestinationStore
from golive.db.users import UserStore
from golive.http.api.restream_status import RestreamLive
from golive.http.web.account_pages import account_routes
from golive.http.web.channel_json import channel_json_routes
from golive.http.web.clip_pages import clip_routes
from golive.http.web.dashboard_pages import dashboard_routes
from golive.http.web.home_page import home_routes
from golive.http.web.restream_section import restream_routes
from golive.http.web.site_context import LiveStreamsView, VodSite, WebContext
from golive.http.web.vod_json import vod_json_routes
from golive.http.web.vod_pages import vod_page_routes
from golive.http.web.web_responses import CSP, security_headers

__all__ = [
    "CSP",
    "BrowserSessions",
    "LiveStreamsView",
    "SessionUser",
    "VodSite",
    "public_url_is_https",
    "security_headers",
    "web_routes",
]

SIGNUPS_PER_HOUR = 10


def public_url_is_https(settings: Callable[[], Settings]) -> Callable[[], bool]:
    """For ``BrowserSessions(force_secure=...)``: cookies are Secure whenever the public URL
    is https, even if a TLS-terminating proxy talks plain HTTP to golive."""
    return lambda: (settings().public_url or "").lower().startswith("https://")


def web_routes(
    *,
    channels: ChannelStore,
    users: UserStore,
    sessions: BrowserSessions,
    live: LiveStreamsView,
    settings: Callable[[], Settings],
    ingest_url: Callable[[], str] | None = None,
    login_limit: LoginRateLimit | None = None,
    signup_limit: AttemptCounter | None = None,
    attempt_store: AttemptStore | None = None,
    max_channels_per_user: int = 5,
    invites: InviteStore | None = None,
    channels_changed: Callable[[], Awaitable[None]] | None = None,
    vods: VodSite | None = None,
    clips: ClipRequests | None = None,
    restreams: RestreamDestinationStore | None = None,
    restream_live: RestreamLive | None = None,
) -> list[BaseRoute]:
    """The site's routes; place them before the ``/{channel}`` watch route.

    The sign-in and sign-up limits count in ``attempt_store`` (this process's memory unless
    given: Redis in a cluster) unless given themselves.
    """
    store = LocalAttemptStore() if attempt_store is None else attempt_store
    ctx = WebContext(
        channels=channels,
        users=users,
        sessions=sessions,
        live=live,
        settings=settings,
        ingest_url=(lambda: settings().rtmp_base_url) if ingest_url is None else ingest_url,
        login_limit=LoginRateLimit(attempt_store=store) if login_limit is None else login_limit,
        signup_limit=store.counter("sign-up", limit=SIGNUPS_PER_HOUR, window=3600.0)
        if signup_limit is None
        else signup_limit,
        max_channels_per_user=max_channels_per_user,
        invites=invites,
        channels_changed=channels_changed,
        vods=vods,
        clips=clips,
        restreams=restreams,
        restream_live=restream_live,
    )
    return [
        *vod_page_routes(ctx),
        *vod_json_routes(ctx),
        *home_routes(ctx),
        *account_routes(ctx),
        *dashboard_routes(ctx),
        *restream_routes(ctx),
        *channel_json_routes(ctx),
        *clip_routes(ctx),
    ]
