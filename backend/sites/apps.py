from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "backend.sites"
    label = "sites"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.records.registry import RecordType, register_record_type
        from backend.sites.models import Site
        from backend.sites.selectors import sites_visible_to
        from backend.sites.services import site_create, site_delete, site_update

        register_record_type(
            RecordType(
                name="site",
                model=Site,
                visible_to=sites_visible_to,
                create=site_create,
                update=site_update,
                delete=site_delete,
                label="红线地块",
                summary=lambda site: f"{site.name}（{site.area_m2:.0f} m²）",
            )
        )
