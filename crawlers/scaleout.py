"""Placeholder: the scrapy-redis scale-out add-on is being written."""


class RedisScaleOut:
    def update_settings(self, settings: object) -> None:
        return None
