"""Operators: each ``execute`` snapshots what it needs on the main thread and hands any
network or disk work to the controller's workers; results arrive through the timer.

No ``execute`` here opens a socket or a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty
from bpy.types import Context, Operator

from movie_director.blender import runtime
from movie_director.blender.controller import CheckOutcome
from movie_director.blender.profiles import profile_name_problem
from movie_director.blender.settings import ServiceSettings, key_variable
from movie_director.redact import register_secret
from movie_director.registry import service_name

FORMATS = [("CSV", "CSV", "One row per history bucket and service"), ("JSON", "JSON", "Summary and every resolution per service")]


class _FileOperator:
    """Shared by the import/export operators: pick a file in the file browser, then hand
    the path to :meth:`run` (which only asks the controller: its workers touch the disk)."""

    if TYPE_CHECKING:  # what bpy.types.Operator gives; a class annotation would be read as a property
        report: Callable[..., Any]

    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    #: Completes "Choose a file to …." when the file browser returned no path.
    verb = "export to"

    def invoke(self, context: Context, event: Any) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def suffix(self) -> str:
        """Added to a path typed without one."""
        return ".json"

    def target(self) -> Path | None:
        if not self.filepath:
            return None
        path = Path(bpy.path.abspath(self.filepath))
        return path if path.suffix else path.with_suffix(self.suffix())

    def execute(self, context: Context) -> set[str]:
        path = self.target()
        if path is None:
            self.report({"ERROR"}, f"Choose a file to {self.verb}.")
            return {"CANCELLED"}
        return {"FINISHED"} if self.run(runtime.get(), path) else {"CANCELLED"}

    def run(self, state: runtime.Runtime, path: Path) -> bool:
        """Start the job; False cancels the operator."""
        raise NotImplementedError


class _SettingsFileOperator(_FileOperator):
    """The settings travel as JSON: the file browser shows only ``.json`` files."""

    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]


class MOVIE_DIRECTOR_OT_refresh_connections(Operator):
    bl_idname = "movie_director.refresh_connections"
    bl_label = "Refresh"
    bl_description = "Check every backend service now (connects if not connected)"
    bl_options = {"INTERNAL"}

    def execute(self, context: Context) -> set[str]:
        runtime.get().refresh()
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_test_connection(Operator):
    bl_idname = "movie_director.test_connection"
    bl_label = "Test"
    bl_description = "Check this service with the settings shown (runs in the background)"
    bl_options = {"INTERNAL"}

    service: StringProperty(name="Service")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        state = runtime.get()
        settings = state.settings().service(self.service)
        if settings is None:
            self.report({"ERROR"}, f"There is no service named {self.service!r}.")
            return {"CANCELLED"}
        if settings.problem:
            state.controller.tests[settings.name] = CheckOutcome("failed", settings.problem)
            state.controller.touch()
            self.report({"ERROR"}, settings.problem)
            return {"CANCELLED"}
        state.controller.test_connection(settings, bpy.app.online_access)
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_discover_services(Operator):
    bl_idname = "movie_director.discover_services"
    bl_label = "Discover"
    bl_description = "Look for ComfyUI, Wan2GP, LiteLLM and Gradio apps on this computer and fill in what is found"
    bl_options = {"INTERNAL"}

    ports: StringProperty(name="Extra ports", description="Ports to scan besides the usual ones, e.g. 7000-7100,8190")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        from movie_director.discovery import parse_ports

        try:
            ports = parse_ports(self.ports)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        runtime.get().controller.discover(bpy.app.online_access, ports)
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_manual_reconnect(Operator):
    bl_idname = "movie_director.manual_reconnect"
    bl_label = "Reconnect"
    bl_description = "Try to reconnect now, without waiting for the next attempt"
    bl_options = {"INTERNAL"}

    service: StringProperty(name="Service", description="Empty: every service")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        count = runtime.get().controller.reconnect([self.service] if self.service else [])
        if not count:
            self.report({"WARNING"}, "Not connected yet: press Refresh.")
            return {"CANCELLED"}
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_show_error_details(Operator):
    bl_idname = "movie_director.show_error_details"
    bl_label = "Error Details"
    bl_description = "Show the whole message and what to do about it"
    bl_options = {"INTERNAL"}

    notification_id: IntProperty(name="Notification")  # type: ignore[valid-type]

    def invoke(self, context: Context, event: Any) -> set[str]:
        return context.window_manager.invoke_props_dialog(self, width=600)

    def draw(self, context: Context) -> None:
        from movie_director.blender.drawing import draw_error_details

        draw_error_details(self.layout, runtime.get().controller.notifications.get(self.notification_id))

    def execute(self, context: Context) -> set[str]:
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_copy_error(Operator):
    bl_idname = "movie_director.copy_error"
    bl_label = "Copy"
    bl_description = "Copy the error details to the clipboard"
    bl_options = {"INTERNAL"}

    notification_id: IntProperty(name="Notification")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        notification = runtime.get().controller.notifications.get(self.notification_id)
        if notification is None:
            self.report({"WARNING"}, "That notification is no longer in the history.")
            return {"CANCELLED"}
        context.window_manager.clipboard = notification.details_text()
        self.report({"INFO"}, "Error details copied.")
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_clear_notifications(Operator):
    bl_idname = "movie_director.clear_notifications"
    bl_label = "Clear"
    bl_description = "Forget the notification history"
    bl_options = {"INTERNAL"}

    def execute(self, context: Context) -> set[str]:
        runtime.get().controller.notifications.clear()
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_export_metrics(_FileOperator, Operator):
    bl_idname = "movie_director.export_metrics"
    bl_label = "Export Metrics"
    bl_description = "Write the health history of the chosen range to a CSV or JSON file"
    bl_options = {"INTERNAL"}

    format: EnumProperty(name="Format", items=FORMATS, default="CSV")  # type: ignore[valid-type]

    def suffix(self) -> str:
        return "." + self.format.lower()

    def run(self, state: runtime.Runtime, path: Path) -> bool:
        return state.controller.export_metrics(path, self.format)


class MOVIE_DIRECTOR_OT_apply_profile(Operator):
    bl_idname = "movie_director.apply_profile"
    bl_label = "Apply Profile"
    bl_description = "Use a preset (Local, Remote, Development, Production) or one of your saved profiles"
    bl_options = {"INTERNAL"}

    name: StringProperty(name="Profile")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        state = runtime.get()
        update = state.controller.load_profile(self.name, state.settings())
        if update is not None:
            state.apply(update)
        return {"FINISHED"}


class _ProfileFileOperator:
    """Shared by save/delete profile: the name becomes a file name, so it is checked here,
    before :meth:`run` hands the disk work to the controller."""

    if TYPE_CHECKING:  # what bpy.types.Operator gives; a class annotation would be read as a property
        report: Callable[..., Any]

    name: StringProperty(name="Profile")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        problem = profile_name_problem(self.name)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        self.run(runtime.get())
        return {"FINISHED"}

    def run(self, state: runtime.Runtime) -> None:
        raise NotImplementedError


class MOVIE_DIRECTOR_OT_save_profile(_ProfileFileOperator, Operator):
    bl_idname = "movie_director.save_profile"
    bl_label = "Save Profile"
    bl_description = "Save the services as a profile in your Blender config folder"
    bl_options = {"INTERNAL"}

    def run(self, state: runtime.Runtime) -> None:
        state.preferences().active_profile = self.name
        state.controller.save_profile(self.name, state.settings())


class MOVIE_DIRECTOR_OT_delete_profile(_ProfileFileOperator, Operator):
    bl_idname = "movie_director.delete_profile"
    bl_label = "Delete Profile"
    bl_description = "Delete one of your saved profiles"
    bl_options = {"INTERNAL"}

    def run(self, state: runtime.Runtime) -> None:
        state.controller.delete_profile(self.name)


class MOVIE_DIRECTOR_OT_import_settings(_SettingsFileOperator, Operator):
    bl_idname = "movie_director.import_settings"
    bl_label = "Import Settings"
    bl_description = "Replace the services with those of a JSON file exported from the add-on (or a JSON config file)"
    bl_options = {"INTERNAL"}

    verb = "import"

    def run(self, state: runtime.Runtime, path: Path) -> bool:
        state.controller.import_settings(path)
        return True


class MOVIE_DIRECTOR_OT_export_settings(_SettingsFileOperator, Operator):
    bl_idname = "movie_director.export_settings"
    bl_label = "Export Settings"
    bl_description = "Write the services to a JSON file (a valid config file; no secrets)"
    bl_options = {"INTERNAL"}

    def run(self, state: runtime.Runtime, path: Path) -> bool:
        state.controller.export_settings(path, state.settings())
        return True


class MOVIE_DIRECTOR_OT_reset_settings(Operator):
    bl_idname = "movie_director.reset_settings"
    bl_label = "Reset to Defaults"
    bl_description = "Replace the services with the installed backends' defaults on this computer"
    bl_options = {"INTERNAL"}

    def execute(self, context: Context) -> set[str]:
        state = runtime.get()
        defaults = state.controller.defaults
        if not defaults.services:
            self.report({"WARNING"}, "The add-on is still starting; try again in a moment.")
            return {"CANCELLED"}
        preferences = state.preferences()
        preferences.set_from(defaults)
        preferences.active_profile = defaults.active_profile
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_add_service(Operator):
    bl_idname = "movie_director.add_service"
    bl_label = "Add Service"
    bl_description = "Add another service of this kind (e.g. a second ComfyUI)"
    bl_options = {"INTERNAL"}

    kind: StringProperty(name="Kind")  # type: ignore[valid-type]
    url: StringProperty(name="URL", default="http://127.0.0.1")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        preferences = runtime.get().preferences()
        if not self.kind:
            self.report({"ERROR"}, "Choose the kind of service to add.")
            return {"CANCELLED"}
        name = service_name(self.kind, self.url, [service.name for service in preferences.services])
        item = preferences.services.add()
        item.set_from(ServiceSettings(name=name, kind=self.kind, url=self.url))
        item.show_expanded = True
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_remove_service(Operator):
    bl_idname = "movie_director.remove_service"
    bl_label = "Remove Service"
    bl_description = "Remove this service from the list"
    bl_options = {"INTERNAL"}

    service: StringProperty(name="Service")  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        services = runtime.get().preferences().services
        index = services.find(self.service)
        if index < 0:
            self.report({"ERROR"}, f"There is no service named {self.service!r}.")
            return {"CANCELLED"}
        services.remove(index)
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_set_api_key(Operator):
    """The only place a key is typed: it goes into this Blender session's environment, never a file."""

    bl_idname = "movie_director.set_api_key"
    bl_label = "Set API Key for This Session"
    bl_description = "Paste an API key; it is kept in memory for this session only (never in the .blend or preferences)"
    bl_options = {"INTERNAL"}

    service: StringProperty(name="Service", options={"HIDDEN"})  # type: ignore[valid-type]
    key: StringProperty(name="API key", subtype="PASSWORD", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def invoke(self, context: Context, event: Any) -> set[str]:
        return context.window_manager.invoke_props_dialog(self, width=400)

    def execute(self, context: Context) -> set[str]:
        state = runtime.get()
        preferences = state.preferences()
        index = preferences.services.find(self.service)
        if index < 0 or not self.key.strip():
            self.report({"ERROR"}, "Choose a service and paste its key.")
            return {"CANCELLED"}
        item = preferences.services[index]
        variable = item.auth_env or key_variable(item.name)
        register_secret(self.key.strip())
        os.environ[variable] = self.key.strip()
        self.key = ""
        if item.auth_env != variable:
            item.auth_env = variable
        state.controller.invalidate()
        self.report({"INFO"}, f"Key set in {variable} for this session.")
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_run_diagnostics(Operator):
    bl_idname = "movie_director.run_diagnostics"
    bl_label = "Run Diagnostics"
    bl_description = "Check Python, plugins, configuration, proxies and every service (runs in the background)"
    bl_options = {"INTERNAL"}

    def execute(self, context: Context) -> set[str]:
        state = runtime.get()
        state.controller.run_doctor(bpy.app.online_access, state.settings())
        return {"FINISHED"}


CLASSES = (
    MOVIE_DIRECTOR_OT_refresh_connections,
    MOVIE_DIRECTOR_OT_test_connection,
    MOVIE_DIRECTOR_OT_discover_services,
    MOVIE_DIRECTOR_OT_manual_reconnect,
    MOVIE_DIRECTOR_OT_show_error_details,
    MOVIE_DIRECTOR_OT_copy_error,
    MOVIE_DIRECTOR_OT_clear_notifications,
    MOVIE_DIRECTOR_OT_export_metrics,
    MOVIE_DIRECTOR_OT_apply_profile,
    MOVIE_DIRECTOR_OT_save_profile,
    MOVIE_DIRECTOR_OT_delete_profile,
    MOVIE_DIRECTOR_OT_import_settings,
    MOVIE_DIRECTOR_OT_export_settings,
    MOVIE_DIRECTOR_OT_reset_settings,
    MOVIE_DIRECTOR_OT_add_service,
    MOVIE_DIRECTOR_OT_remove_service,
    MOVIE_DIRECTOR_OT_set_api_key,
    MOVIE_DIRECTOR_OT_run_diagnostics,
)


#: Registered in this order, unregistered in reverse.
register, unregister = bpy.utils.register_classes_factory(CLASSES)
