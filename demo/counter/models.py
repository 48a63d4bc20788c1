"""One row in Postgres that every app node increments: proof they share a database; and uploads, kept in
the media storage every app node shares."""

from django.db import models


class Counter(models.Model):
    name = models.CharField(max_length=50, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class Sale(models.Model):
    """A few thousand sales, seeded by a migration: what the report page aggregates."""

    product = models.CharField(max_length=50)
    region = models.CharField(max_length=20)
    day = models.DateField()
    quantity = models.PositiveIntegerField()
    unit_price_cents = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.day} {self.region} {self.product} x{self.quantity}"


class Upload(models.Model):
    file = models.FileField(upload_to="uploads/")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file.name
