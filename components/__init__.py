"""The floor that speaks Pulumi: ComponentResources, each (name, Args, opts), declared from what model/ and render/ decide."""
