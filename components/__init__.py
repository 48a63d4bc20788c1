"""The django-tiers program: pure decisions (config, topology, sizing, rendering) and the components that declare resources from them."""
