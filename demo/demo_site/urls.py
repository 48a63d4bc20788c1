"""Routes of the demo: one page. /healthz is answered by middleware, before host checks."""

from django.urls import path

from counter import views

urlpatterns = [path("", views.index, name="index")]
