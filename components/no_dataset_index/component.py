"""No dataset index: the branch of the pipeline where datasets are not retrieved."""

from components.images import p2m_component


@p2m_component()
def no_dataset_index() -> str:
    """Stand in for retrieve_datasets when the pipeline is given no dataset index: no candidates.

    KFP joins the two branches with dsl.OneOf, which needs a task in each; this one shows in the
    run's graph that dataset retrieval was skipped.

    Returns:
        An empty JSON list of candidates.
    """
    return "[]"
