package fr.caf.mcp.keycloak;

import java.util.List;
import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;
import org.keycloak.provider.ProviderConfigProperty;

public class FirstLoginGuardFactory extends McpAuthenticatorFactory {

    public static final String ID = "mcp-first-login-guard";
    private static final FirstLoginGuard SINGLETON = new FirstLoginGuard();

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "Mon Compte Partenaire: provisional password expiry and usage-rules version";
    }

    @Override
    public String getHelpText() {
        return "Refuses a provisional password older than its deadline (mcp.provisional-expires-at) and requires "
                + "the usage rules again when a newer version was published.";
    }

    @Override
    public boolean isConfigurable() {
        return true;
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        ProviderConfigProperty version = new ProviderConfigProperty("usageRulesVersion", "Usage rules version",
                "Label of the current version of the usage rules.", ProviderConfigProperty.STRING_TYPE, "");
        ProviderConfigProperty published = new ProviderConfigProperty(FirstLoginGuard.PUBLISHED_AT,
                "Published at (epoch seconds)", "Users who accepted before this time accept again.",
                ProviderConfigProperty.STRING_TYPE, "0");
        return List.of(version, published);
    }

    @Override
    public Authenticator create(KeycloakSession session) {
        return SINGLETON;
    }

}
