from .base import OccasionType

ANNIVERSARY = OccasionType(
    name="anniversary",
    anchor=lambda user: user.anniversary_date,
    render=lambda user: f"Hey, {user.full_name} it's your anniversary",
    schedule_fields=("anniversary_date", "timezone"),
)
