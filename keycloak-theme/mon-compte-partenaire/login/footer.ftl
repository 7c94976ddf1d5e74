<#-- Issue 15: the footer of every Mon Compte Partenaire page (sso_demo/templates/_pied.html draws the same in
     the applications). Its links go to the pages of the application the person is logging in to (each app
     serves them, public); Keycloak's own pages without a client fall back to the page itself. -->
<#macro content>
<#assign base = (client.baseUrl)!''>
<#if base?ends_with("/")><#assign base = base?remove_ending("/")></#if>
<footer class="mcp-pied" id="mcp-pied">
  <div class="mcp-pied-interieur">
    <ul>
      <li><a href="${base}/mentions-legales">${msg("mcpFooterLegal")}</a></li>
      <li><a href="${base}/donnees-personnelles">${msg("mcpFooterPrivacy")}</a></li>
      <li><a href="${base}/accessibilite">${msg("mcpFooterAccessibility")}</a></li>
      <li><a href="${base}/aide">${msg("mcpFooterHelp")}</a></li>
    </ul>
    <p>${msg("mcpFooterService")}</p>
  </div>
</footer>
</#macro>
