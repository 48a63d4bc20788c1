from django.urls import path
from django.views.generic import TemplateView

PAGES = {"": "home", "about/": "about", "notes/": "notes"}

urlpatterns = [path(route, TemplateView.as_view(template_name=f"minisite/{name}.html")) for route, name in PAGES.items()]
