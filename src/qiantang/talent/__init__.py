"""Finance talent (金融人才): the annual talent return statistics and the certification register."""
