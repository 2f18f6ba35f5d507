from .base import OccasionType

BIRTHDAY = OccasionType(
    name="birthday",
    anchor=lambda user: user.birthday,
    render=lambda user: f"Hey, {user.full_name} it's your birthday",
    schedule_fields=("birthday", "timezone"),
)
