"""Routes of the demo: the counter page, the sales report, uploads and their files. /healthz is answered by middleware, before host checks."""

from counter import views
from django.urls import path

urlpatterns = [
    path("", views.index, name="index"),
    path("report/", views.report, name="report"),
    path("upload", views.upload, name="upload"),
    path("media/<path:name>", views.media, name="media"),
]
