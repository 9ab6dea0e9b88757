"""The synthetic Kreis Unna demo: fixed facts (data), invented people (people), case plans (plans, casework), the
organisation (partners, grants, positions) and the seeder that sends it all through the services' HTTP APIs."""
