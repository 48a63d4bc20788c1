"""The pure floor: what a stack file means, decided without Pulumi, files on disk or the network."""
