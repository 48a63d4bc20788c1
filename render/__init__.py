"""The pure floor above model: the files a node receives, rendered from the templates in cloud-init/ and steps/."""
