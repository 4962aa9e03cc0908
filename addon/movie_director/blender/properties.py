"""Blender properties: preferences (what the artist edits), the scene (what a .blend keeps)
and the window manager (what the timer fills for the panels; never saved).

Only the timer and operators write here, on the main thread. Secrets have no property:
``auth_env`` is the name of an environment variable (see ``movie_director.set_api_key``).
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import AddonPreferences, PropertyGroup

from movie_director.blender.drawing import LOADED_MODEL
from movie_director.blender.settings import CONFIG_VERSION, RETRIES_RANGE, TIMEOUT_RANGE, ServiceSettings, UISettings, url_problem
from movie_director.configdata import DEFAULT_PROFILE


def _url_changed(self: PropertyGroup, context: bpy.types.Context) -> None:
    """Validate as the artist types; the timer's next snapshot applies the change."""
    problem = url_problem(self.url)
    if self.url_error != problem:
        self.url_error = problem


def _range_changed(self: PropertyGroup, context: bpy.types.Context) -> None:
    from movie_director.blender import runtime

    runtime.range_changed(self.time_range)


# -- preferences ---------------------------------------------------------------------------


class MovieDirectorServiceSettings(PropertyGroup):
    """One service as the preferences edit it."""

    name: StringProperty(name="Name", description="The service's name in configs and the CLI")  # type: ignore[valid-type]
    kind: StringProperty(name="Kind", description="The backend plugin that talks to it")  # type: ignore[valid-type]
    enabled: BoolProperty(name="Enabled", default=True)  # type: ignore[valid-type]
    url: StringProperty(name="URL", description="http, https, ws or wss URL, e.g. http://127.0.0.1:8188", update=_url_changed)  # type: ignore[valid-type]
    timeout: FloatProperty(name="Timeout", description="Seconds to wait for an answer", default=30.0, min=TIMEOUT_RANGE[0], max=TIMEOUT_RANGE[1], subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE")  # type: ignore[valid-type]
    retries: IntProperty(name="Retries", description="Retries of idempotent requests", default=3, min=RETRIES_RANGE[0], max=RETRIES_RANGE[1])  # type: ignore[valid-type]
    auth_env: StringProperty(name="Key variable", description="Name of the environment variable holding the API key (the key itself is never stored)")  # type: ignore[valid-type]
    url_error: StringProperty(name="URL problem")  # type: ignore[valid-type]
    show_expanded: BoolProperty(name="Show settings", default=False)  # type: ignore[valid-type]

    def to_settings(self) -> ServiceSettings:
        return ServiceSettings(self.name, self.kind or self.name, self.enabled, self.url, self.timeout, self.retries, self.auth_env)

    def set_from(self, settings: ServiceSettings) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.enabled, self.url, self.timeout, self.retries, self.auth_env = settings.enabled, settings.url, settings.timeout, settings.retries, settings.auth_env


class MovieDirectorPreferences(AddonPreferences):
    """``bl_idname`` is set to the add-on's package at registration (``bl_ext.<repo>.movie_director``)."""

    bl_idname = "movie_director"

    services: CollectionProperty(type=MovieDirectorServiceSettings)  # type: ignore[valid-type]
    active_profile: StringProperty(name="Profile", default=DEFAULT_PROFILE)  # type: ignore[valid-type]
    profile_name: StringProperty(name="Profile name", description="Name of the profile to save the settings as")  # type: ignore[valid-type]
    discovery_ports: StringProperty(name="Extra ports", description="Ports Discover scans besides the usual ones, e.g. 7000-7100,8190")  # type: ignore[valid-type]
    #: Set once the default services were filled in, so removing them all stays removed.
    initialized: BoolProperty(default=False)  # type: ignore[valid-type]

    def to_settings(self, custom_profiles: tuple[str, ...] = (), defaults: tuple[str, ...] = ()) -> UISettings:
        """A frozen copy; ``defaults`` are the default services' names (absent ones are switched off)."""
        services = tuple(service.to_settings() for service in self.services)
        removed = tuple(name for name in defaults if name not in {service.name for service in services})
        return UISettings(services, self.active_profile, custom_profiles, removed)

    def set_from(self, settings: UISettings) -> None:
        self.services.clear()
        for service in settings.services:
            self.services.add().set_from(service)
        if settings.active_profile:
            self.active_profile = settings.active_profile

    def draw(self, context: bpy.types.Context) -> None:
        from movie_director.blender.panels import draw_preferences

        draw_preferences(self, context, self.layout)


# -- the .blend ----------------------------------------------------------------------------


class MovieDirectorSceneService(PropertyGroup):
    """One service's connection settings as a .blend keeps them."""

    name: StringProperty(name="Name")  # type: ignore[valid-type]
    kind: StringProperty(name="Kind")  # type: ignore[valid-type]
    enabled: BoolProperty(name="Enabled", default=True)  # type: ignore[valid-type]
    url: StringProperty(name="URL")  # type: ignore[valid-type]
    timeout: FloatProperty(name="Timeout", default=30.0, min=TIMEOUT_RANGE[0], max=TIMEOUT_RANGE[1])  # type: ignore[valid-type]
    retries: IntProperty(name="Retries", default=3, min=RETRIES_RANGE[0], max=RETRIES_RANGE[1])  # type: ignore[valid-type]
    auth_env: StringProperty(name="Key variable")  # type: ignore[valid-type]
    last_connected: StringProperty(name="Last connected", description="When the service last answered, as UTC (ISO 8601); empty: never")  # type: ignore[valid-type]
    status: StringProperty(name="Status", description="The service's state when the file was saved")  # type: ignore[valid-type]


class MovieDirectorSceneSettings(PropertyGroup):
    """``Scene.movie_director_props``: applied by the load_post handler when the file opens."""

    config_version: IntProperty(name="Settings layout", default=CONFIG_VERSION, min=0)  # type: ignore[valid-type]
    services: CollectionProperty(type=MovieDirectorSceneService)  # type: ignore[valid-type]
    auto_connect_on_startup: BoolProperty(name="Connect when the file opens", default=True)  # type: ignore[valid-type]
    active_profile: StringProperty(name="Profile")  # type: ignore[valid-type]


class MovieDirectorWorkflowInputs(PropertyGroup):
    """Which nodes of one workflow (``name``: its file or Text datablock) take the prompt and the seed."""

    name: StringProperty(name="Workflow")  # type: ignore[valid-type]
    prompt_node: StringProperty(name="Prompt node")  # type: ignore[valid-type]
    seed_node: StringProperty(name="Seed node")  # type: ignore[valid-type]


class MovieDirectorPendingJob(PropertyGroup):
    """A workflow job whose results were not imported when the file was saved (``name``: the job id)."""

    name: StringProperty()  # type: ignore[valid-type]
    prompt_id: StringProperty()  # type: ignore[valid-type]
    service: StringProperty()  # type: ignore[valid-type]
    instance: StringProperty()  # type: ignore[valid-type]
    title: StringProperty()  # type: ignore[valid-type]
    frame: IntProperty()  # type: ignore[valid-type]
    folder: StringProperty()  # type: ignore[valid-type]
    workflow: StringProperty(description="The workflow as sent (JSON): resent if the server lost it")  # type: ignore[valid-type]


#: The model menu's items; kept alive here (Blender keeps only pointers to their strings).
_video_model_items: list[tuple[str, str, str]] = []


def _video_models(self: PropertyGroup, context: bpy.types.Context) -> list[tuple[str, str, str]]:
    """The Wan2GP services' own model lists, as read by Refresh Models (memory only)."""
    from movie_director.blender import runtime

    known = runtime._runtime.controller.video_models.values() if runtime._runtime is not None else ()
    models = sorted({model for models in known for model in models})
    _video_model_items[:] = [(LOADED_MODEL, "Loaded model", "The model Wan2GP has loaded now")] + [(model, model, f"Wan2GP model {model}") for model in models]
    return _video_model_items


class MovieDirectorGenerateSettings(PropertyGroup):
    """``Scene.movie_director_generate``: what the Generate panel asks for, kept with the .blend."""

    workflow_path: StringProperty(name="Workflow file", subtype="FILE_PATH", description="A ComfyUI workflow saved with Workflow → Export (API)")  # type: ignore[valid-type]
    workflow_text: PointerProperty(name="Workflow text", type=bpy.types.Text, description="A Text datablock holding an API-format workflow (used instead of the file)")  # type: ignore[valid-type]
    prompt: StringProperty(name="Prompt", description="Written into the workflow's prompt node; empty keeps the workflow's own")  # type: ignore[valid-type]
    seed: IntProperty(name="Seed", default=-1, min=-1, description="Written into the workflow's seed input; -1 keeps the workflow's own")  # type: ignore[valid-type]
    prompt_node: StringProperty(name="Prompt node", description="Id or title of the node that takes the prompt (remembered per workflow); empty: found automatically")  # type: ignore[valid-type]
    seed_node: StringProperty(name="Seed node", description="Id or title of the node that takes the seed (remembered per workflow); empty: found automatically")  # type: ignore[valid-type]
    workflows: CollectionProperty(type=MovieDirectorWorkflowInputs)  # type: ignore[valid-type]
    pending: CollectionProperty(type=MovieDirectorPendingJob)  # type: ignore[valid-type]
    llm_prompt: StringProperty(name="Question", description="What to ask the LLM")  # type: ignore[valid-type]
    llm_context: PointerProperty(name="Context", type=bpy.types.Text, description="A Text datablock sent along as context")  # type: ignore[valid-type]
    llm_use_strip: BoolProperty(name="Selected text strip as context", default=False)  # type: ignore[valid-type]
    llm_text_strip: BoolProperty(name="Add a text strip", default=False, description="Also put the answer in a text strip at the playhead")  # type: ignore[valid-type]
    video_prompt: StringProperty(name="Video prompt", description="What Wan2GP should film")  # type: ignore[valid-type]
    video_model: EnumProperty(name="Model", items=_video_models, description="From the service's own list (Refresh Models reads it)")  # type: ignore[valid-type]
    video_resolution: StringProperty(name="Resolution", default="832x480", description="WIDTHxHEIGHT")  # type: ignore[valid-type]
    video_frames: IntProperty(name="Frames", default=81, min=1, max=1000)  # type: ignore[valid-type]
    video_steps: IntProperty(name="Steps", default=30, min=1, max=100)  # type: ignore[valid-type]
    video_guidance: FloatProperty(name="Guidance", default=5.0, min=0.0, max=50.0)  # type: ignore[valid-type]
    video_seed: IntProperty(name="Seed", default=-1, min=-1, description="-1: a random seed")  # type: ignore[valid-type]
    video_start_image: BoolProperty(name="Start from the image strip", default=False, description="The selected image strip's frame under the playhead starts the video")  # type: ignore[valid-type]


# -- what the timer fills (window manager: never saved) ------------------------------------


class MovieDirectorServiceStatus(PropertyGroup):
    name: StringProperty()  # type: ignore[valid-type]
    label: StringProperty()  # type: ignore[valid-type]
    kind: StringProperty()  # type: ignore[valid-type]
    url: StringProperty()  # type: ignore[valid-type]
    state: StringProperty()  # type: ignore[valid-type]
    state_text: StringProperty()  # type: ignore[valid-type]
    icon: StringProperty(default="TIME")  # type: ignore[valid-type]
    latency: StringProperty()  # type: ignore[valid-type]
    last_check_text: StringProperty()  # type: ignore[valid-type]
    version: StringProperty()  # type: ignore[valid-type]
    capabilities: StringProperty()  # type: ignore[valid-type]
    error: StringProperty()  # type: ignore[valid-type]
    error_code: StringProperty()  # type: ignore[valid-type]
    hints: StringProperty()  # type: ignore[valid-type]
    reconnect_text: StringProperty()  # type: ignore[valid-type]
    queued_ops: IntProperty()  # type: ignore[valid-type]
    queued: StringProperty()  # type: ignore[valid-type]
    show_details: BoolProperty(name="Details", default=False)  # type: ignore[valid-type]


class MovieDirectorNotificationItem(PropertyGroup):
    notification_id: IntProperty()  # type: ignore[valid-type]
    severity: StringProperty()  # type: ignore[valid-type]
    summary: StringProperty()  # type: ignore[valid-type]


class MovieDirectorDashboardRow(PropertyGroup):
    name: StringProperty()  # type: ignore[valid-type]
    label: StringProperty()  # type: ignore[valid-type]
    checks: IntProperty()  # type: ignore[valid-type]
    response: StringProperty()  # type: ignore[valid-type]
    availability: StringProperty()  # type: ignore[valid-type]
    metrics: StringProperty()  # type: ignore[valid-type]
    trend: StringProperty()  # type: ignore[valid-type]


class MovieDirectorJobResult(PropertyGroup):
    """A Test button's or diagnostics line's outcome."""

    name: StringProperty()  # type: ignore[valid-type]
    state: StringProperty()  # type: ignore[valid-type]
    message: StringProperty()  # type: ignore[valid-type]
    hints: StringProperty()  # type: ignore[valid-type]


class MovieDirectorGenerationRow(PropertyGroup):
    """One generation job in the Generate panel."""

    job_id: StringProperty()  # type: ignore[valid-type]
    service: StringProperty()  # type: ignore[valid-type]
    instance: StringProperty()  # type: ignore[valid-type]
    title: StringProperty()  # type: ignore[valid-type]
    state: StringProperty()  # type: ignore[valid-type]
    status: StringProperty()  # type: ignore[valid-type]
    progress: FloatProperty(min=0.0, max=1.0)  # type: ignore[valid-type]
    elapsed: StringProperty()  # type: ignore[valid-type]


class MovieDirectorStatus(PropertyGroup):
    """``WindowManager.movie_director_status``."""

    state: StringProperty(default="stopped")  # type: ignore[valid-type]
    overall_icon: StringProperty(default="COLORSET_13_VEC")  # type: ignore[valid-type]
    overall_text: StringProperty()  # type: ignore[valid-type]
    llm_icon: StringProperty(default="INFO")  # type: ignore[valid-type]
    llm_text: StringProperty()  # type: ignore[valid-type]
    offline_note: StringProperty()  # type: ignore[valid-type]
    services: CollectionProperty(type=MovieDirectorServiceStatus)  # type: ignore[valid-type]
    notifications: CollectionProperty(type=MovieDirectorNotificationItem)  # type: ignore[valid-type]
    dashboard: CollectionProperty(type=MovieDirectorDashboardRow)  # type: ignore[valid-type]
    time_range: EnumProperty(  # type: ignore[valid-type]
        name="Range",
        items=[("5M", "5 min", "The last 5 minutes"), ("1H", "1 h", "The last hour"), ("24H", "24 h", "The last 24 hours")],
        default="5M",
        update=_range_changed,
    )
    tests: CollectionProperty(type=MovieDirectorJobResult)  # type: ignore[valid-type]
    discovery: PointerProperty(type=MovieDirectorJobResult)  # type: ignore[valid-type]
    doctor: PointerProperty(type=MovieDirectorJobResult)  # type: ignore[valid-type]
    findings: CollectionProperty(type=MovieDirectorJobResult)  # type: ignore[valid-type]
    jobs: CollectionProperty(type=MovieDirectorGenerationRow)  # type: ignore[valid-type]
    #: The running jobs' mean progress (the status bar), -1 when none runs.
    jobs_progress: FloatProperty(default=-1.0)  # type: ignore[valid-type]
    jobs_running: IntProperty()  # type: ignore[valid-type]


CLASSES = (
    MovieDirectorServiceSettings,
    MovieDirectorPreferences,
    MovieDirectorSceneService,
    MovieDirectorSceneSettings,
    MovieDirectorWorkflowInputs,
    MovieDirectorPendingJob,
    MovieDirectorGenerateSettings,
    MovieDirectorServiceStatus,
    MovieDirectorNotificationItem,
    MovieDirectorDashboardRow,
    MovieDirectorJobResult,
    MovieDirectorGenerationRow,
    MovieDirectorStatus,
)


_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register(package: str) -> None:
    MovieDirectorPreferences.bl_idname = package
    _register_classes()
    bpy.types.Scene.movie_director_props = PointerProperty(type=MovieDirectorSceneSettings)
    bpy.types.Scene.movie_director_generate = PointerProperty(type=MovieDirectorGenerateSettings)
    bpy.types.WindowManager.movie_director_status = PointerProperty(type=MovieDirectorStatus)


def unregister() -> None:
    del bpy.types.WindowManager.movie_director_status
    del bpy.types.Scene.movie_director_generate
    del bpy.types.Scene.movie_director_props
    _unregister_classes()
