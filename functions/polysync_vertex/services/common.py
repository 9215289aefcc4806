"""What several services share: the allow-list, fetching a template."""

from __future__ import annotations

from ..config import Settings
from ..core.errors import ApiError, UpstreamError
from ..core.names import JobResourceName
from ..ports import VertexPort
from .upstream import api_error


def check_allowed(settings: Settings, project: str, location: str, fields: tuple[str | None, str | None]) -> None:
    """403 unless the project and location are on the connector's allow-list; `fields` name them in the error."""
    if project not in settings.allowed_projects:
        raise ApiError(
            "PERMISSION_DENIED",
            f"project {project} is not on the connector's allow-list (setting PSV_ALLOWED_PROJECTS)",
            fields[0],
        )
    if location not in settings.allowed_locations:
        raise ApiError(
            "PERMISSION_DENIED",
            f"location {location} is not on the connector's allow-list (setting PSV_ALLOWED_LOCATIONS)",
            fields[1],
        )


def fetch_template(vertex: VertexPort, name: JobResourceName, deadline: float) -> dict[str, object]:
    """The template job as Vertex AI returns it; 404 naming `externalId` when it does not exist."""
    try:
        return vertex.get(name.resource_name, deadline)
    except UpstreamError as err:
        if err.code == "NOT_FOUND":
            raise ApiError("NOT_FOUND", f"template {name.resource_name} not found in Vertex AI", "externalId") from None
        raise api_error(err, project=name.project, field="externalId", what="template") from None
