"""The model registry as the endpoint and the promotion gate see it: aliases and versions."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


@dataclass(frozen=True)
class ResolvedModel:
    """A model URI pinned to a registry version where it names one."""

    uri: str
    version: str | None

    @property
    def label(self) -> str:
        """What decisions record as ``policy_version``."""
        if self.version is None:
            return self.uri
        name = self.uri.removeprefix("models:/").split("@")[0].split("/")[0]
        return f"{name}/v{self.version}"


def resolve(uri: str, client: MlflowClient | None = None) -> ResolvedModel:
    """Pin ``models:/NAME@ALIAS`` to ``models:/NAME/VERSION``; other URIs stay as they are."""
    if not uri.startswith("models:/"):
        return ResolvedModel(uri, None)
    body = uri.removeprefix("models:/")
    client = client or MlflowClient()
    if "@" in body:
        name, alias = body.split("@", 1)
        try:
            version = client.get_model_version_by_alias(name, alias).version
        except MlflowException as error:
            raise LookupError(f"no version of {name!r} carries the alias {alias!r}") from error
        return ResolvedModel(f"models:/{name}/{version}", str(version))
    name, _, version = body.partition("/")
    return ResolvedModel(uri, version or None)


def alias_version(name: str, alias: str, client: MlflowClient | None = None) -> str | None:
    """Return the version an alias points at, or ``None`` if the alias (or the model) does not exist."""
    client = client or MlflowClient()
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None
