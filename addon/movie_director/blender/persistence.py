"""The ``.blend`` side of the settings: ``Scene.movie_director_props`` as data, written when a
file is saved and applied to the preferences when it opens (:mod:`~movie_director.blender.handlers`
calls these with the runtime's state).

- ``save_pre`` copies the services in use, the active profile and each service's last
  state into the scene (a key variable's *name* may be stored, never a key).
- ``load_post`` (persistent, so it sees every file) lifts an older layout with
  :func:`~movie_director.blender.settings.migrate`, applies the file's profile (a preset,
  or a profile file from the user config folder), then the file's own service settings
  on top, and honours ``auto_connect_on_startup``. A file without stored settings leaves
  the preferences alone.
"""

from __future__ import annotations

import time
from typing import Any

from movie_director.blender.notifications import Severity
from movie_director.blender.settings import CONFIG_VERSION, NewerLayout, ServiceSettings, UISettings, migrate, settings_from_profile
from movie_director.configdata import PRESETS
from movie_director.errors import InvalidConfigError

SERVICE_FIELDS = ("name", "kind", "enabled", "url", "timeout", "retries", "auth_env", "last_connected", "status")


def _plain(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value.to_list() if hasattr(value, "to_list") else value


def stored_data(props: Any) -> dict[str, Any]:
    """The scene's settings as a plain dict, including keys an older layout left behind."""
    services = []
    for item in props.services:
        raw = {key: _plain(item[key]) for key in item.keys()}
        services.append({**raw, **{name: getattr(item, name) for name in SERVICE_FIELDS}})
    return {
        "config_version": props.get("config_version") or CONFIG_VERSION,
        "active_profile": props.active_profile,
        "auto_connect_on_startup": props.auto_connect_on_startup,
        "services": services,
    }


def write_data(props: Any, data: dict[str, Any]) -> None:
    """Put migrated settings back, dropping keys the current layout does not have."""
    props.config_version = CONFIG_VERSION
    for item, service in zip(props.services, data["services"]):
        for key in [key for key in item.keys() if key not in SERVICE_FIELDS]:
            del item[key]
        for name in SERVICE_FIELDS:
            if name in service and getattr(item, name) != service[name]:
                setattr(item, name, service[name])


def store_settings(props: Any, settings: UISettings, states: dict[str, str], now: float) -> None:
    """Write the services in use into the scene (``save_pre``)."""
    last_connected = {item.name: item.last_connected for item in props.services}
    props.config_version = CONFIG_VERSION
    props.active_profile = settings.active_profile
    props.services.clear()
    for service in settings.services:
        item = props.services.add()
        item.name, item.kind, item.enabled, item.url = service.name, service.kind, service.enabled, service.url
        item.timeout, item.retries, item.auth_env = service.timeout, service.retries, service.auth_env
        item.status = states.get(service.name, "")
        connected_now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        item.last_connected = connected_now if item.status in ("connected", "degraded") else last_connected.get(service.name, "")


def file_settings(data: dict[str, Any], profile_services: tuple[ServiceSettings, ...]) -> UISettings:
    """The profile's services with the file's own settings on top (by name)."""
    merged = {service.name: service for service in profile_services}
    for entry in data["services"]:
        merged[entry["name"]] = ServiceSettings(entry["name"], entry["kind"] or entry["name"], entry["enabled"], entry["url"], entry["timeout"], entry["retries"], entry["auth_env"])
    return UISettings(tuple(merged.values()), data["active_profile"] or "")


def apply_file_settings(state: Any, scene: Any) -> None:
    """Apply ``scene``'s stored settings to the preferences (a file opened, or the add-on enabled)."""
    props = scene.movie_director_props
    notifications = state.controller.notifications
    try:
        data = migrate(stored_data(props))
    except NewerLayout as exc:
        notifications.add(Severity.WARNING, f"{exc} The file's connection settings were not applied.", type="settings_layout")
        return
    write_data(props, data)
    state.connect_allowed = props.auto_connect_on_startup
    if not data["services"]:
        return
    profile = data["active_profile"]
    profile_services: tuple[ServiceSettings, ...] = ()
    if profile and profile not in PRESETS:
        store = state.controller.profiles
        try:
            profile_services = settings_from_profile(profile, store.load(profile), str(store.path_of(profile))).services
        except InvalidConfigError as error:
            notifications.add_error(error.to_dict(), severity=Severity.WARNING, title=f"Profile {profile} not applied")
    preferences = state.preferences()
    preferences.set_from(file_settings(data, profile_services))
    preferences.initialized = True
    if profile:
        preferences.active_profile = profile
    state.controller.touch()
