from django.db.models import Q, QuerySet

from backend.accounts.models import User
from backend.cases.selectors import cases_visible_to, projects_visible_to
from backend.sites.models import Site


def sites_visible_to(*, user: User) -> QuerySet[Site]:
    """Sites of the cases the user may see; a site without a case follows its project."""
    return Site.objects.filter(
        Q(case__in=cases_visible_to(user=user))
        | Q(case__isnull=True, project__in=projects_visible_to(user=user).values("pk"))
    ).select_related("project", "case")
