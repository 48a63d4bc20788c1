"""The sales the report page aggregates, seeded with the same rows on every site."""

import datetime

from django.db import migrations, models

SEED_ROWS = 6000
PRODUCTS = 150
REGIONS = ("north", "south", "east", "west", "centre")
FIRST_DAY = datetime.date(2025, 1, 1)


def seed(apps, schema_editor) -> None:
    Sale = apps.get_model("counter", "Sale")
    Sale.objects.bulk_create(
        (
            Sale(
                product=f"product-{i % PRODUCTS:03d}",
                region=REGIONS[i % len(REGIONS)],
                day=FIRST_DAY + datetime.timedelta(days=(i * 7) % 365),
                quantity=1 + (i * 7) % 13,
                unit_price_cents=100 + (i * 37) % 900,
            )
            for i in range(SEED_ROWS)
        ),
        batch_size=1000,
    )


def unseed(apps, schema_editor) -> None:
    apps.get_model("counter", "Sale").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("counter", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Sale",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("product", models.CharField(max_length=50)),
                ("region", models.CharField(max_length=20)),
                ("day", models.DateField()),
                ("quantity", models.PositiveIntegerField()),
                ("unit_price_cents", models.PositiveIntegerField()),
            ],
        ),
        migrations.RunPython(seed, unseed),
    ]
