"""Financial dispute register (金融纠纷): mediation, arbitration and litigation, with times and outcomes."""
