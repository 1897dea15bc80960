"""The field-record kernel (issue 10, item 9): what every field record shares."""
