"""``chittychat_data/published``: the consolidated state and todos files committed to the
chittychat-data repository, ONLY with an explicit approval.

Writing to git needs the user's approval (the mission's rule), so this asset refuses to run
unless the run carries run config ``approve: true`` or the tag ``chitty/approve_publish=true``.
It sits in its own group ("publish"), no job of jobs.py, schedule or sensor selects it, and even
when something does, it fails before any network call without approval. ``chitty-sync publish``
shows the diff first and, with ``--approve``, launches this asset with the tag and the head the
diff was computed against.
"""

# No ``from __future__ import annotations``: Dagster reads the config/resource annotations.
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from chitty_pipelines.platforms.github.publish_client import commit_publish, plan_publish
from chitty_pipelines.platforms.github.resource import GitHubError, GitHubResource
from chitty_pipelines.unified.projects import PROJECTS_KEY
from chitty_pipelines.unified.publish_files import PublishInputError, consolidated_files
from chitty_pipelines.unified.sessions import SESSIONS_KEY
from chitty_pipelines.unified.todos import PROJECT_TODOS_KEY, TODOS_KEY
from chitty_pipelines.warehouse.resource import WarehouseResource

PUBLISH_KEY = dg.AssetKey(["chittychat_data", "published"])
PUBLISH_GROUP = "publish"
PUBLISH_JOB = "publish_chittychat_data"
APPROVE_TAG = "chitty/approve_publish"
EXPECTED_HEAD_TAG = "chitty/publish_expected_head"
PROJECT_TAG = "chitty/publish_project"
DIGEST_TAG = "chitty/publish_expected_digest"


class PublishConfig(dg.Config):
    approve: bool = Field(
        default=False, description="Approve the git write (or tag chitty/approve_publish=true)."
    )
    project: str | None = Field(default=None, description="Publish one project only.")
    expected_head: str | None = Field(
        default=None, description="Branch head the diff was reviewed against; stop if the remote moved."
    )
    expected_digest: str | None = Field(
        default=None, description="Digest of the reviewed diff; stop if the files to commit differ from it."
    )


def approval(context: dg.AssetExecutionContext, config: PublishConfig) -> bool:
    return config.approve or context.run.tags.get(APPROVE_TAG, "").lower() == "true"


def data_repository(github: GitHubResource) -> str:
    if not github.token:
        raise GitHubError("GITHUB_TOKEN is not set: publishing to the chittychat-data repository needs it")
    github.check_names()
    full = github.data_repo_full_name()
    if not full:
        raise GitHubError(
            "set GITHUB_DATA_REPOSITORY to owner/name (or GITHUB_OWNERS for owner/chittychat-data)"
        )
    return full


@dg.asset(
    key=PUBLISH_KEY,
    group_name=PUBLISH_GROUP,
    kinds={"github"},
    deps=[PROJECTS_KEY, SESSIONS_KEY, TODOS_KEY, PROJECT_TODOS_KEY],
    description="Consolidated state and todos files committed to the chittychat-data repository in one "
    "commit; runs only with approval (run config approve: true or tag chitty/approve_publish=true).",
)
def chittychat_data_published(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    warehouse: WarehouseResource,
    github: GitHubResource,
) -> dg.MaterializeResult:
    if not approval(context, config):
        # Before any network call: without approval nothing is even read from GitHub.
        raise dg.Failure(
            description="publish to the chittychat-data repository was not approved; nothing was written. "
            "Review the diff with `chitty-sync publish`, then run `chitty-sync publish --approve` "
            f"(or launch with the tag {APPROVE_TAG}=true, or the launchpad config "
            f"`{{ops: {{{context.op_def.name}: {{config: {{approve: true}}}}}}}}`).",
            allow_retries=False,
        )
    tags = context.run.tags
    project = config.project or tags.get(PROJECT_TAG) or None
    expected = config.expected_head or tags.get(EXPECTED_HEAD_TAG) or None
    digest = config.expected_digest or tags.get(DIGEST_TAG) or None
    try:
        files = consolidated_files(warehouse.get(), project)
        repository = data_repository(github)
        with github.client() as client:
            plan = plan_publish(client, repository, files)
            context.log.info(
                f"publish {repository}@{plan.branch}: {len(plan.changed)} files changed "
                f"(+{plan.lines_added} -{plan.lines_removed}) on {plan.head_sha[:12]}"
            )
            message = (
                f"chitty-sync publish: {len(plan.changed)} files"
                + (f" of {project}" if project else "")
                + f" ({datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}, run {context.run.run_id[:8]})"
            )
            if digest and digest != plan.digest:
                # The unified tables changed between the reviewed diff and this run (a sync ran).
                raise PublishInputError(
                    f"the files to publish changed since the diff was reviewed (digest {digest}, now "
                    f"{plan.digest}); nothing was written. Run `chitty-sync publish` again to review them."
                )
            sha = commit_publish(client, plan, message, expected_head=expected)
    except (GitHubError, PublishInputError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    summary = plan.summary()
    return dg.MaterializeResult(
        metadata={
            "commit_sha": sha or "",
            "committed": sha is not None,
            "repository": repository,
            "branch": plan.branch,
            "parent_sha": plan.head_sha,
            "files_changed": summary["files_changed"],
            "lines_added": summary["lines_added"],
            "lines_removed": summary["lines_removed"],
            "changes": dg.MetadataValue.json(summary["changes"]),
        }
    )


publish_job = dg.define_asset_job(
    PUBLISH_JOB,
    selection=dg.AssetSelection.assets(PUBLISH_KEY),
    description="Commit the consolidated files to chittychat-data (needs approval; chitty-sync publish).",
)

defs = dg.Definitions(assets=[chittychat_data_published], jobs=[publish_job])
