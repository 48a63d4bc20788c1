"""Routes of the demo: the counter page and the sales report. /healthz is answered by middleware, before host checks."""

from counter import views
from django.urls import path

urlpatterns = [
    path("", views.index, name="index"),
    path("report/", views.report, name="report"),
]
