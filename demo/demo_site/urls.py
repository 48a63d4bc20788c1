"""Routes of the demo: one page. /healthz is answered by middleware, before host checks."""

from counter import views
from django.urls import path

urlpatterns = [path("", views.index, name="index")]
