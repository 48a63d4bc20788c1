from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("counter", "0002_sale")]

    operations = [
        migrations.CreateModel(
            name="Upload",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("file", models.FileField(upload_to="uploads/")),
                ("created", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
