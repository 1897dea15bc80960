from django.urls import path

from mobile_api.webhooks import views

urlpatterns = [
    path("webhooks/", views.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<uuid:pk>/", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:pk>/rotate-secret", views.WebhookRotateSecretView.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<uuid:pk>/ping", views.WebhookPingView.as_view(), name="webhook-ping"),
    path("webhooks/<uuid:pk>/replay", views.WebhookReplayView.as_view(), name="webhook-replay"),
    path("webhooks/<uuid:pk>/deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/<uuid:pk>/deliveries/<uuid:delivery_id>/retry",
        views.WebhookDeliveryRetryView.as_view(),
        name="webhook-delivery-retry",
    ),
    path("events/", views.EventFeedView.as_view(), name="event-feed"),
    path("events/types/", views.EventTypeListView.as_view(), name="event-types"),
    path(
        "events/inspection-report/<str:token>",
        views.EventInspectionReportView.as_view(),
        name="event-inspection-report",
    ),
]
