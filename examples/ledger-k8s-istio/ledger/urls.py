from django.conf.urls import url
from ledger import views

urlpatterns = [
    url(r'^healthz$', views.health),
    url(r'^entries/(?P<pk>\d+)$', views.entry),
]
